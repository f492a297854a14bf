// Every PostgreSQL migration, in the order of names.ts (the twins of ../migrations/, in PostgreSQL's
// SQL). Listed explicitly so that no file-system discovery is needed under tsx.
import type { Migration } from '@mikro-orm/migrations';
import { Migration20261128045145 } from './Migration20261128045145.ts';
import { Migration20261128052018 } from './Migration20261128052018.ts';
import { migrationNames } from './names.ts';

const classes: (new (...args: ConstructorParameters<typeof Migration>) => Migration)[] = [Migration20261128045145, Migration20261128052018];

export const migrationsList = migrationNames.map((name, i) => ({ name, class: classes[i] }));
