// The migrations' names, in order: enough to see, without loading the migrator, that none is pending.
export const migrationNames = ['Migration20261127212732', 'Migration20261127215322', 'Migration20261128043922', 'Migration20261128052000', 'Migration20261128055349', 'Migration20261128064726', 'Migration20261128155746'];
