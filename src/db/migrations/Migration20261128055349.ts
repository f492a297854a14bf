import { Migration } from '@mikro-orm/migrations';

export class Migration20261128055349 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table \`deploy_run\` add column \`lease_until\` datetime null;`);
  }

}
