#!/usr/bin/env bash
# original-job.sh HOST REPO: the cleanup CI job regprune replaces, written
# again for the bench from its algorithm (the job itself is not part of
# this repository). One curl at a time, as the job ran:
#
#   1. a token (only when the registry asks for one; the bench's is open);
#   2. the digest of "latest", by HEAD;
#   3. the tag list;
#   4. a HEAD of each tag, and a DELETE by digest of every manifest that is
#      not latest's.
#
# It keeps every tag of latest's digest (its job tag too), deletes an index
# without looking at its children, and checks nothing between reading and
# deleting: the hazards regprune exists to remove. Plain HTTP, for the
# bench's loopback registry only.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 HOST REPO" >&2
	exit 2
fi
host=$1
repo=$2
base="http://$host/v2/$repo"
accept='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json'

# 1. A token, if the registry's challenge names a Bearer realm.
auth=()
challenge=$(curl -sS -o /dev/null -D - "http://$host/v2/" | tr -d '\r' | grep -i '^www-authenticate: bearer' || true)
if [ -n "$challenge" ]; then
	realm=$(sed -E 's/.*realm="([^"]*)".*/\1/' <<<"$challenge")
	service=$(sed -E 's/.*service="([^"]*)".*/\1/' <<<"$challenge")
	token=$(curl -fsS -G "$realm" --data-urlencode "service=$service" \
		--data-urlencode "scope=repository:$repo:pull,delete" | jq -r '.token // .access_token')
	auth=(-H "Authorization: Bearer $token")
fi

# digest_of REF prints the Docker-Content-Digest a HEAD of REF answers.
digest_of() {
	curl -fsS -I "${auth[@]}" -H "Accept: $accept" "$base/manifests/$1" |
		tr -d '\r' | grep -i '^docker-content-digest:' | cut -d' ' -f2
}

# 2. What latest names.
keep=$(digest_of latest)
if [ -z "$keep" ]; then
	echo "no digest for latest" >&2
	exit 1
fi

# 3. Every tag, page by page (Link: <...>; rel="next").
tags=()
next="/v2/$repo/tags/list"
while [ -n "$next" ]; do
	headers=$(mktemp)
	page=$(curl -fsS -D "$headers" "${auth[@]}" "http://$host$next")
	mapfile -t -O "${#tags[@]}" tags < <(jq -r '.tags // [] | .[]' <<<"$page")
	next=$(tr -d '\r' <"$headers" | grep -i '^link:' | sed -E 's/^[Ll]ink: *<([^>]*)>.*/\1/' || true)
	rm -f "$headers"
done

# 4. HEAD each tag; DELETE by digest what is not latest's.
for tag in "${tags[@]}"; do
	d=$(digest_of "$tag" || true) # gone already: deleted with another tag
	if [ -n "$d" ] && [ "$d" != "$keep" ]; then
		curl -fsS -o /dev/null -X DELETE "${auth[@]}" "$base/manifests/$d"
	fi
done
