import { Migration } from '@mikro-orm/migrations';

export class Migration20261128045145 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "deploy_run" ("id" serial primary key, "app" varchar(255) not null, "host" varchar(255) not null, "strategy" varchar(255) not null, "trigger" varchar(255) not null, "status" varchar(255) not null, "ref" varchar(255) null, "commit" varchar(255) null, "error" text null, "failed_step" varchar(255) null, "duration_ms" int null, "queued_at" timestamptz not null, "started_at" timestamptz null, "finished_at" timestamptz null, "trace_id" varchar(255) null, "commit_before" varchar(255) null, "commit_after" varchar(255) null, "release" int null, "rollback_to" int null, "rolled_back" boolean not null default false, "owner_pid" int null);`);
    this.addSql(`create index "deploy_run_app_index" on "deploy_run" ("app");`);
    this.addSql(`create index "deploy_run_status_index" on "deploy_run" ("status");`);

    this.addSql(`create table "deploy_target" ("app" varchar(255) not null, "host" varchar(255) not null, "remote_dir" varchar(255) not null, "binary" varchar(255) not null, "build_cmd" text not null, "user" varchar(255) not null, "port" int not null, "health" varchar(255) not null, "env" jsonb not null, "strategy" varchar(255) not null, "source_dir" varchar(255) not null, "branch" varchar(255) not null, "compose_files" jsonb not null, "repo" varchar(255) not null, "auto_rollback" boolean not null default true, "keep_releases" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "deploy_target_pkey" primary key ("app", "host"));`);

    this.addSql(`create table "step_run" ("id" serial primary key, "run_id" int not null, "step" varchar(255) not null, "status" varchar(255) not null, "started_at" timestamptz null, "duration_ms" int null, "exit_code" int null, "output" text not null default '', "error" text null);`);
    this.addSql(`create index "step_run_run_id_index" on "step_run" ("run_id");`);

    this.addSql(`alter table "step_run" add constraint "step_run_run_id_foreign" foreign key ("run_id") references "deploy_run" ("id") on update cascade on delete cascade;`);
  }


}
