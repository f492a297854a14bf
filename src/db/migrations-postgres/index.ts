// Every PostgreSQL migration, in the order of names.ts (the twins of ../migrations/, in PostgreSQL's
// SQL). Listed explicitly so that no file-system discovery is needed under tsx.
import type { Migration } from '@mikro-orm/migrations';
import { Migration20261128064728 } from './Migration20261128064728.ts';
import { Migration20261128155755 } from './Migration20261128155755.ts';
import { migrationNames } from './names.ts';

const classes: (new (...args: ConstructorParameters<typeof Migration>) => Migration)[] = [Migration20261128064728, Migration20261128155755];

export const migrationsList = migrationNames.map((name, i) => ({ name, class: classes[i] }));
