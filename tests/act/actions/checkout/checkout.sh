#!/usr/bin/env bash
# The checkout stand-in's work (see action.yml): a fresh clone of $MLOPS_ACT_ORIGIN in the
# workspace, as the real action makes one of github.com.
set -euo pipefail
fail() { echo "::error::checkout stand-in: $*"; exit 1; }

origin=${MLOPS_ACT_ORIGIN:?MLOPS_ACT_ORIGIN is not set: run this workflow through tests/support/act.py}
[ "$CHECKOUT_REPOSITORY" = "$GITHUB_REPOSITORY" ] \
  || fail "only $GITHUB_REPOSITORY (the repository under test) can be cloned, not $CHECKOUT_REPOSITORY"
target="$GITHUB_WORKSPACE/$CHECKOUT_PATH"
mkdir -p "$target"
cd "$target"
# The origin belongs to the host's user, this job to the runner's: git would refuse to read it.
git config --global --add safe.directory "$origin"
git config --global --add safe.directory "$origin/.git"
# The real action empties the folder and makes a new repository there.
find . -mindepth 1 -delete
git init -q
git remote add origin "$origin"

depth=()
[ "$CHECKOUT_DEPTH" != "0" ] && depth=(--depth="$CHECKOUT_DEPTH")
if [ "$CHECKOUT_DEPTH" = "0" ]; then
  git fetch -q --tags origin '+refs/heads/*:refs/remotes/origin/*'
fi

wanted=${CHECKOUT_REF:-$CHECKOUT_EVENT_SHA}
branch=""
if [ -z "$CHECKOUT_REF" ] && [[ "$CHECKOUT_EVENT_REF" == refs/heads/* ]]; then
  branch=${CHECKOUT_EVENT_REF#refs/heads/}
elif [ -n "$CHECKOUT_REF" ] && git ls-remote --exit-code -q origin "refs/heads/${CHECKOUT_REF#refs/heads/}" >/dev/null; then
  branch=${CHECKOUT_REF#refs/heads/}
  wanted=refs/remotes/origin/$branch
fi
if ! git rev-parse -q --verify "$wanted^{commit}" >/dev/null; then
  if [ -n "$branch" ]; then
    git fetch -q "${depth[@]}" origin "+refs/heads/$branch:refs/remotes/origin/$branch"
  else
    git fetch -q "${depth[@]}" origin "$wanted" || fail "no commit or ref $wanted in $GITHUB_REPOSITORY"
    wanted=FETCH_HEAD
  fi
fi
if [ -n "$branch" ] && [ -z "$CHECKOUT_REF" ]; then
  git checkout -q --force -B "$branch" "$CHECKOUT_EVENT_SHA"
elif [ -n "$branch" ]; then
  git checkout -q --force -B "$branch" "refs/remotes/origin/$branch"
else
  git checkout -q --force --detach "$wanted"
fi

if [ "$CHECKOUT_PERSIST" = "true" ]; then
  # Where the real action keeps the token: any later step can read it from .git/config.
  basic=$(printf 'x-access-token:%s' "$CHECKOUT_TOKEN" | base64 -w0)
  git config --local http.https://github.com/.extraheader "AUTHORIZATION: basic $basic"
  echo "the job's token is kept in .git/config (persist-credentials: true)"
fi
echo "checked out $(git rev-parse HEAD) (${branch:-detached}) of $GITHUB_REPOSITORY"
