import { Migration } from '@mikro-orm/migrations';

export class Migration20261128064726 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`deploy_server\` (\`id\` text not null, \`started_at\` datetime not null, \`heartbeat_at\` datetime not null, primary key (\`id\`));`);

    this.addSql(`alter table \`deploy_run\` add column \`owner\` text null;`);
    this.addSql(`alter table \`deploy_run\` add column \`cancel_requested\` integer not null default false;`);
  }

}
