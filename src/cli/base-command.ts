import { Command } from 'clipanion';
import type { MikroORM } from '../db/orm.ts';
import { loadConfig, type Config } from '../support/config.ts';
import type { CliContext } from './context.ts';

// Nothing here imports MikroORM (or anything heavy) at module level: every command file imports this
// one, and `--help` or a parse error must not pay for the ORM. Commands import what they need in run().

/**
 * Base of every deploy_server command: `run()` does the work; any error becomes one line on stderr and
 * exit code 1, never a stack trace.
 */
export abstract class DeployCommand extends Command<CliContext> {
  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      this.context.stderr.write(`error: ${describeError(error)}\n`);
      return 1;
    }
  }

  protected config(): Config {
    return loadConfig(this.context.env, this.context.cwd);
  }

  /** Opens operations.db (applying migrations) for the length of `work`. */
  protected async withDatabase<T>(work: (orm: MikroORM, config: Config) => Promise<T>): Promise<T> {
    const config = this.config();
    const { openDatabase } = await import('../db/orm.ts');
    const orm = await openDatabase({ dbPath: config.dbPath });
    try {
      return await work(orm, config);
    } finally {
      await orm.close();
    }
  }
}

export function describeError(error: unknown): string {
  // A database error's message carries the SQL and its values (env values, say): name it, no more.
  if (isDriverException(error)) return `database error (${error.name}): run again, or check DEPLOY_DB`;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim() || 'unknown error';
}

/**
 * MikroORM's DriverException (and its subclasses), recognised by the class names on the prototype chain
 * rather than `instanceof`, so that describing an error never loads the ORM.
 */
function isDriverException(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  for (let proto = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === 'DriverException') return true;
  }
  return false;
}
