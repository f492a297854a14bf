// Every migration, in order. Listed explicitly so that no file-system discovery is needed under tsx.
import { Migration20261127212732 } from './Migration20261127212732.ts';
import { Migration20261127215322 } from './Migration20261127215322.ts';

export const migrationsList = [
  { name: 'Migration20261127212732', class: Migration20261127212732 },
  { name: 'Migration20261127215322', class: Migration20261127215322 },
];
