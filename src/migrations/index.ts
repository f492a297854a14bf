// Every migration, in order. Listed explicitly so that no file-system discovery is needed under tsx.
import { Migration20261127212402 } from './Migration20261127212402.ts';

export const migrationsList = [{ name: 'Migration20261127212402', class: Migration20261127212402 }];
