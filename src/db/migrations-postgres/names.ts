// The PostgreSQL migrations' names, in order: enough to see, without loading the migrator, that none is pending.
export const migrationNames = ['Migration20261128064728', 'Migration20261128155755'];
