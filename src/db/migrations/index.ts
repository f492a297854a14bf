// Every migration, in the order of names.ts. Listed explicitly so that no file-system discovery is
// needed under tsx.
import { Migration20261127212732 } from './Migration20261127212732.ts';
import { Migration20261127215322 } from './Migration20261127215322.ts';
import { Migration20261128043922 } from './Migration20261128043922.ts';
import { Migration20261128052000 } from './Migration20261128052000.ts';
import { Migration20261128055349 } from './Migration20261128055349.ts';
import { Migration20261128064726 } from './Migration20261128064726.ts';
import { Migration20261128155746 } from './Migration20261128155746.ts';
import { migrationNames } from './names.ts';

const classes = [Migration20261127212732, Migration20261127215322, Migration20261128043922, Migration20261128052000, Migration20261128055349, Migration20261128064726, Migration20261128155746];

export const migrationsList = migrationNames.map((name, i) => ({ name, class: classes[i] }));
