import { Migration } from '@mikro-orm/migrations';

export class Migration20261128052000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`webhook_delivery\` (\`id\` integer not null primary key autoincrement, \`delivery_id\` text null, \`repository\` text not null, \`ref\` text not null, \`after\` text not null, \`status\` text not null, \`payload\` json null, \`run_ids\` json null, \`reason\` text null, \`received_at\` datetime not null);`);
    this.addSql(`create index \`webhook_delivery_delivery_id_index\` on \`webhook_delivery\` (\`delivery_id\`);`);
    this.addSql(`create index \`webhook_delivery_repository_ref_after_index\` on \`webhook_delivery\` (\`repository\`, \`ref\`, \`after\`);`);

    this.addSql(`alter table \`deploy_target\` add column \`repo_name\` text not null default '';`);
  }

}
