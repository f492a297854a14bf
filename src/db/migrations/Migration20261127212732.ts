import { Migration } from '@mikro-orm/migrations';

export class Migration20261127212732 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`deploy_run\` (\`id\` integer not null primary key autoincrement, \`app\` text not null, \`host\` text not null, \`strategy\` text not null, \`trigger\` text not null, \`status\` text not null, \`ref\` text null, \`commit\` text null, \`error\` text null, \`failed_step\` text null, \`duration_ms\` integer null, \`queued_at\` datetime not null, \`started_at\` datetime null, \`finished_at\` datetime null, \`trace_id\` text null, \`owner_pid\` integer null);`);
    this.addSql(`create index \`deploy_run_app_index\` on \`deploy_run\` (\`app\`);`);
    this.addSql(`create index \`deploy_run_status_index\` on \`deploy_run\` (\`status\`);`);

    this.addSql(`create table \`deploy_target\` (\`app\` text not null, \`host\` text not null, \`remote_dir\` text not null, \`binary\` text not null, \`build_cmd\` text not null, \`user\` text not null, \`port\` integer not null, \`health\` text not null, \`env\` json not null, \`strategy\` text not null, \`source_dir\` text not null, \`branch\` text not null, \`compose_files\` json not null, \`repo\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`app\`, \`host\`));`);

    this.addSql(`create table \`step_run\` (\`id\` integer not null primary key autoincrement, \`run_id\` integer not null, \`step\` text not null, \`status\` text not null, \`started_at\` datetime null, \`duration_ms\` integer null, \`exit_code\` integer null, \`output\` text not null default '', \`error\` text null, constraint \`step_run_run_id_foreign\` foreign key(\`run_id\`) references \`deploy_run\`(\`id\`) on delete cascade on update cascade);`);
    this.addSql(`create index \`step_run_run_id_index\` on \`step_run\` (\`run_id\`);`);
  }

}
