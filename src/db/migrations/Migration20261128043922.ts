import { Migration } from '@mikro-orm/migrations';

export class Migration20261128043922 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`deploy_lock\` (\`id\` integer not null primary key autoincrement, \`app\` text not null, \`host\` text null, \`reason\` text not null, \`locked_by\` text not null, \`locked_at\` datetime not null, \`expires_at\` datetime null);`);
    this.addSql(`create index \`deploy_lock_app_index\` on \`deploy_lock\` (\`app\`);`);

    this.addSql(`create table \`notification_attempt\` (\`id\` integer not null primary key autoincrement, \`run_id\` integer not null, \`sink\` text not null, \`event\` text not null, \`attempt\` integer not null, \`status\` text not null, \`http_status\` integer null, \`error\` text null, \`sent_at\` datetime not null, \`duration_ms\` integer not null, constraint \`notification_attempt_run_id_foreign\` foreign key(\`run_id\`) references \`deploy_run\`(\`id\`) on delete cascade on update cascade);`);
    this.addSql(`create index \`notification_attempt_run_id_index\` on \`notification_attempt\` (\`run_id\`);`);

    this.addSql(`alter table \`deploy_run\` add column \`forced\` integer not null default false;`);
    this.addSql(`alter table \`deploy_run\` add column \`repository\` text null;`);

    this.addSql(`alter table \`deploy_target\` add column \`skip_ci_marker\` integer not null default false;`);
  }

}
