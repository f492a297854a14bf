// The Gitea webhook fixtures (copies of shared/fixtures/gitea, kept in the repository so a clone runs
// its tests alone) and their signatures.
import { readFileSync } from 'node:fs';

export const FIXTURES = new URL('../fixtures/gitea/', import.meta.url);
export const SECRET = 'test-secret';

/** From the fixtures' README (computed there with openssl, not with the code under test). */
export const SIGNATURES: Record<string, string> = {
  'push-monorepo.json': '372f7a2c960a15786a5c4d726d26f13d63e42dd52a8b7401d3d8cb29b5e0f54c',
  'push-external.json': 'b35a2384653917b675abf8f831baf137cd0bdb1bf7a9654f5ff0fe863866bd07',
  'push-tag.json': 'a83872f2473c488c9b9d84ac3f6ae6333a37543ee51d32f006fe2ad55a2f3365',
  'delete-branch.json': 'bac4e202e1094843bea5ac8360cae188141600c3fbe9e250fac7a7cbed6c505d',
  'push-test-delivery.json': '41cd4b5345ad7140649cd0b90e051d1d05ca9060a479979b7befa66d723f2e3f',
};

export function fixture(name: string): Buffer {
  return readFileSync(new URL(name, FIXTURES));
}
