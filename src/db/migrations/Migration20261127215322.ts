import { Migration } from '@mikro-orm/migrations';

export class Migration20261127215322 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table \`deploy_run\` add column \`commit_before\` text null;`);
    this.addSql(`alter table \`deploy_run\` add column \`commit_after\` text null;`);
    this.addSql(`alter table \`deploy_run\` add column \`release\` integer null;`);
    this.addSql(`alter table \`deploy_run\` add column \`rollback_to\` integer null;`);
    this.addSql(`alter table \`deploy_run\` add column \`rolled_back\` integer not null default false;`);

    this.addSql(`alter table \`deploy_target\` add column \`auto_rollback\` integer not null default true;`);
    this.addSql(`alter table \`deploy_target\` add column \`keep_releases\` integer not null default 0;`);
  }

}
