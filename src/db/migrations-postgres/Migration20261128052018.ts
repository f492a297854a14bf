import { Migration } from '@mikro-orm/migrations';

export class Migration20261128052018 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "deploy_server" ("id" varchar(255) not null, "started_at" timestamptz not null, "heartbeat_at" timestamptz not null, constraint "deploy_server_pkey" primary key ("id"));`);

    this.addSql(`create table "push_delivery" ("key" text not null, "received_at" timestamptz not null, "queued" jsonb null, constraint "push_delivery_pkey" primary key ("key"));`);

    this.addSql(`alter table "deploy_run" add column "owner" varchar(255) null, add column "cancel_requested" boolean not null default false;`);
  }


}
