import { Migration } from '@mikro-orm/migrations';

export class Migration20261128042817 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`deploy_lock\` (\`id\` integer not null primary key autoincrement, \`app\` text not null, \`host\` text null, \`reason\` text not null, \`locked_by\` text not null, \`locked_at\` datetime not null, \`expires_at\` datetime null);`);
    this.addSql(`create index \`deploy_lock_app_index\` on \`deploy_lock\` (\`app\`);`);

    this.addSql(`alter table \`deploy_run\` add column \`forced\` integer not null default false;`);
    this.addSql(`alter table \`deploy_run\` add column \`repository\` text null;`);

    this.addSql(`alter table \`deploy_target\` add column \`skip_ci_marker\` integer not null default false;`);
  }

}
