// actions/cache under act, offline: GitHub's cache service played by a folder the harness mounts
// (MLOPS_ACT_CACHE, tests/support/act.py), kept across the runs of one test repository as GitHub
// keeps a repository's caches. What our workflows rely on, as GitHub does it:
// - scopes: an entry belongs to the ref of the run that saved it; a run reads its own ref's
//   entries, then its pull request's base branch's, then the default branch's;
// - matching: in each scope in turn, the entry of exactly `key`, else the newest entry whose key
//   starts with `key` or with each restore key in order; `cache-hit` only for exactly `key`;
// - saving (the post step, when the job succeeded): nothing after an exact hit, nothing when the
//   path does not exist (a warning), never over an entry of the same key in the same scope.
// One path, relative to the workspace or absolute; no compression, no cross-OS archives.
"use strict";

const fs = require("fs");
const path = require("path");

function input(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] || "").trim();
}

function settings() {
  const root = process.env.MLOPS_ACT_CACHE || "";
  const key = input("key");
  const restoreKeys = input("restore-keys").split("\n").map((k) => k.trim()).filter(Boolean);
  const wanted = input("path");
  if (!key || !wanted || wanted.includes("\n")) {
    throw new Error("cache stand-in: `key` and one `path` are required");
  }
  const target = path.resolve(process.env.GITHUB_WORKSPACE || process.cwd(), wanted);
  return { root, key, restoreKeys, target, scopes: readableScopes() };
}

function readableScopes() {
  let event = {};
  try {
    event = JSON.parse(fs.readFileSync(process.env.GITHUB_EVENT_PATH || "", "utf8"));
  } catch (error) {
    event = {};
  }
  const base = process.env.GITHUB_BASE_REF;
  const defaultBranch = (event.repository || {}).default_branch;
  const scopes = [process.env.GITHUB_REF, base && `refs/heads/${base}`,
    defaultBranch && `refs/heads/${defaultBranch}`];
  return [...new Set(scopes.filter(Boolean))];
}

function entries(root, scope) {
  const folder = path.join(root, encodeURIComponent(scope));
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).map((name) => {
    const meta = JSON.parse(fs.readFileSync(path.join(folder, name, "meta.json"), "utf8"));
    return { ...meta, data: path.join(folder, name, "data") };
  });
}

function lookUp(config) {
  for (const scope of config.scopes) {
    const found = entries(config.root, scope);
    const exact = found.find((e) => e.key === config.key);
    if (exact) return exact;
    for (const prefix of [config.key, ...config.restoreKeys]) {
      const matches = found.filter((e) => e.key.startsWith(prefix));
      if (matches.length) return matches.reduce((a, b) => (b.saved > a.saved ? b : a));
    }
  }
  return null;
}

function output(name, value) {
  if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
}

function restore() {
  const config = settings();
  if (!config.root) {
    console.log("cache stand-in: no cache folder mounted (MLOPS_ACT_CACHE): nothing restored");
    output("cache-hit", "false");
    return;
  }
  const entry = lookUp(config);
  if (!entry) {
    console.log(`Cache not found for input keys: ${[config.key, ...config.restoreKeys].join(", ")}`);
    output("cache-hit", "false");
    return;
  }
  fs.mkdirSync(path.dirname(config.target), { recursive: true });
  fs.cpSync(entry.data, config.target, { recursive: true, force: true });
  console.log(`Cache restored from key: ${entry.key}`);
  console.log(`cache stand-in: the entry of ${entry.scope} restored to ${config.target}`);
  output("cache-hit", String(entry.key === config.key));
}

function save() {
  const config = settings();
  if (!config.root) {
    console.log("cache stand-in: no cache folder mounted (MLOPS_ACT_CACHE): nothing saved");
    return;
  }
  const entry = lookUp(config);
  if (entry && entry.key === config.key) {
    console.log(`Cache hit occurred on the primary key ${config.key}, not saving cache.`);
    return;
  }
  if (!fs.existsSync(config.target)) {
    console.log("Warning: Path Validation Error: Path(s) specified in the action for caching " +
                "do(es) not exist, hence no cache is being saved.");
    return;
  }
  const scope = config.scopes[0];
  const folder = path.join(config.root, encodeURIComponent(scope));
  const final = path.join(folder, encodeURIComponent(config.key));
  if (fs.existsSync(final)) {
    console.log(`Failed to save: Unable to reserve cache with key ${config.key}, another job ` +
                "may be creating this cache.");
    return;
  }
  fs.mkdirSync(folder, { recursive: true });
  const temporary = fs.mkdtempSync(path.join(config.root, ".saving-"));
  fs.cpSync(config.target, path.join(temporary, "data"), { recursive: true });
  const saved = Date.now(); // the newest of several matches is restored (runs are minutes apart)
  fs.writeFileSync(path.join(temporary, "meta.json"),
                   JSON.stringify({ scope, key: config.key, saved }));
  fs.renameSync(temporary, final);
  console.log(`Cache saved with key: ${config.key}`);
}

module.exports = { restore, save };
