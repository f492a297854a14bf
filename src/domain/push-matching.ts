// Which targets a push deploys (SPEC §5): pure functions over file names and targets.

/** `apps/<name>/…` with something after the slash. */
const APP_PATH = /^apps\/([^/]+)\/./;

/** App names of paths `apps/<name>/…`, de-duplicated, sorted. */
export function appsTouched(files: string[]): string[] {
  const apps = new Set<string>();
  for (const file of files) {
    const name = APP_PATH.exec(file)?.[1];
    if (name && name !== '.' && name !== '..') apps.add(name);
  }
  return [...apps].sort();
}

function describeApps(apps: readonly string[]): string {
  return apps.length === 1 ? `app ${apps[0]} has` : `apps ${apps.join(', ')} have`;
}

/** Why a push selected no target, in one line. */
function explainNoMatch(byPath: boolean, apps: readonly string[], anyTarget: boolean, branch: string): string {
  if (byPath) {
    return anyTarget
      ? `${describeApps(apps)} no target deploying from branch "${branch}"`
      : `${describeApps(apps)} no target (changed under apps/)`;
  }
  return anyTarget
    ? `no changed path under apps/ and app "${apps[0]}" has no target deploying from branch "${branch}"`
    : `no changed path under apps/ and no target for app "${apps[0]}"`;
}

/** A target that names its repository takes only that repository's pushes (Gitea names ignore case). */
function fromRepository(target: { repo_name?: string }, fullName: string): boolean {
  return !target.repo_name || target.repo_name.toLowerCase() === fullName.toLowerCase();
}

/**
 * Which targets a push deploys (SPEC §5): the apps touched under apps/, or, only when no path is
 * under apps/, the app named like the repository; then only the targets deploying from the branch,
 * and, for a target that names its repository (`repo_name`), only pushes from that repository.
 */
export function matchPushToTargets(
  targets: readonly { app: string; host: string; branch: string; repo_name?: string }[],
  push: { files: string[]; repositoryName: string; repositoryFullName?: string; branch: string },
): { targets: { app: string; host: string }[]; reason?: string } {
  const touched = appsTouched(push.files);
  const byPath = touched.length > 0;
  const apps = byPath ? touched : [push.repositoryName];
  const fullName = push.repositoryFullName ?? push.repositoryName;
  const ofApps = targets.filter((target) => apps.includes(target.app));
  const ofRepository = ofApps.filter((target) => fromRepository(target, fullName));
  const selected = ofRepository.filter((target) => target.branch === push.branch).map(({ app, host }) => ({ app, host }));
  if (selected.length > 0) return { targets: selected };
  if (ofApps.length > 0 && ofRepository.length === 0) {
    const named = [...new Set(ofApps.map((target) => target.repo_name))].join(', ');
    return { targets: [], reason: `the targets of ${describeApps(apps).replace(/ ha(s|ve)$/, '')} deploy only pushes from ${named}, not from ${fullName}` };
  }
  return { targets: [], reason: explainNoMatch(byPath, apps, ofRepository.length > 0, push.branch) };
}
