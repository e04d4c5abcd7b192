#!/usr/bin/env bash
# check_includes.sh SOURCE_DIR - fails when an include goes against the
# direction of the layout (README.md, "Where things are"):
#
#   engine/app -> engine/{api, ingest} -> engine/{model, redis, http}
#     -> engine/base -> {proto, config}
#
# A folder may include its own headers and those of any folder below it,
# never one beside or above it. proto/ and config/ include neither engine/
# nor each other, and proto/ includes neither uv.h nor hiredis. Project
# headers are spelled with their folder ("engine/base/log.h"). A folder of
# engine/ that is not in the table below fails too, so a new one gets a place.
set -u
src=${1:?usage: check_includes.sh SOURCE_DIR}
cd "$src" || exit 2

level() {
  case $1 in
    base) echo 1 ;;
    model | redis | http) echo 2 ;;
    api | ingest) echo 3 ;;
    app) echo 4 ;;
    *) echo 0 ;;
  esac
}

bad=0
fail() { echo "$1: $2" >&2; bad=1; }

# Every quoted include of a file: "path:line:target".
includes() {
  grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$@" |
    sed 's/^\([^:]*:[0-9]*\):.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1:\2/'
}

files() { find "$1" -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort; }

for f in $(files engine); do
  rel=${f#engine/}
  case $rel in */*) ;; *) fail "$f" "engine files live in a subsystem folder"; continue ;; esac
  folder=${rel%%/*}
  mine=$(level "$folder")
  [ "$mine" -gt 0 ] || { fail "$f" "engine/$folder is not in the layout table"; continue; }
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    where=${hit%:*} target=${hit##*:}
    case $target in
      engine/*/*)
        other=${target#engine/}
        other=${other%%/*}
        theirs=$(level "$other")
        if [ "$other" != "$folder" ] && { [ "$theirs" -eq 0 ] || [ "$theirs" -ge "$mine" ]; }; then
          fail "$where" "engine/$folder must not include $target"
        fi
        ;;
      proto/* | config/*) ;;
      *) fail "$where" "include \"$target\" is not spelled with its folder" ;;
    esac
  done < <(includes "$f")
done

for f in $(files proto); do
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    where=${hit%:*} target=${hit##*:}
    case $target in
      proto/*) ;;
      *) fail "$where" "proto/ must not include \"$target\"" ;;
    esac
  done < <(includes "$f")
  if grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*<\(uv\.h\|uv/\|hiredis\)' "$f" >&2; then
    fail "$f" "proto/ must not include libuv or hiredis"
  fi
done

for f in $(files config); do
  while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    where=${hit%:*} target=${hit##*:}
    case $target in
      config/*) ;;
      *) fail "$where" "config/ must not include \"$target\"" ;;
    esac
  done < <(includes "$f")
done

[ "$bad" -eq 0 ] && echo "includes follow the layout"
exit "$bad"
