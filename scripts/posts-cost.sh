#!/usr/bin/env bash
# Re-derives "what posts cost each tier" (docs/comparison.md, README's "Adding a
# relation") from the history: each tier got posts in one commit, so that commit's diff
# of the tier's src/ is the cost. Counted by `cargo run --bin tier-stats -- diff`
# (not blank; comments apart; same rules as the other counts of the comparison).
#
# Usage: scripts/posts-cost.sh   (needs the full git history; a shallow clone lacks it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The commit before posts, and the commit that gave each tier its posts.
base=9130896
for tier_commit in tier-raw:fc48366 tier-sqlx:f60b197 tier-orm:03327ae; do
    tier=${tier_commit%%:*}
    commit=${tier_commit#*:}
    echo "### $tier: \`git diff $base $commit -- crates/$tier/src\`"
    echo
    git diff "$base" "$commit" -- "crates/$tier/src" | cargo run --quiet --bin tier-stats -- diff
    echo
done
