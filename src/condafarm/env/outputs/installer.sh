#!/bin/sh
# condafarm installer: a render environment that installs itself where you say, with only what the OS ships
# (sh, tail, head, gzip, tar, mkdir, mv, chmod). Usage: sh THIS_FILE PREFIX
#   PREFIX: where the environment goes; it must not exist, or be an empty folder. Paths with spaces work.
#   Exit codes: 2 bad PREFIX (or too long for a binary file that embeds it), 5 PREFIX exists, 1 anything else.
@ORIGIN@
set -eu
payload_offset=@PAYLOAD_OFFSET@
old_length=@OLD_LENGTH@
binary_files=@BINARY_FILES@

fail() {
    printf 'condafarm installer: %s\n' "$1" >&2
    exit "${2:-1}"
}

[ $# -eq 1 ] && [ -n "$1" ] || fail "usage: sh $0 PREFIX (the folder to install the environment in)" 2
case $1 in
    /*) prefix=$1 ;;
    *) prefix=$(pwd)/$1 ;;
esac
while [ "${prefix%/}" != "$prefix" ] && [ "$prefix" != / ]; do prefix=${prefix%/}; done
new_length=$(printf '%s' "$prefix" | wc -c | tr -d ' ')
if [ "$binary_files" -gt 0 ] && [ "$new_length" -gt "$old_length" ]; then
    fail "$binary_files binary file(s) embed the prefix: PREFIX may be at most $old_length bytes long, not $new_length; choose a shorter path" 2
fi
if [ -e "$prefix" ] || [ -L "$prefix" ]; then
    if [ -L "$prefix" ] || [ ! -d "$prefix" ] || [ -n "$(ls -A "$prefix")" ]; then
        fail "$prefix already exists; give a new folder (or an empty one)" 5
    fi
fi
# Unpacked and relocated next to PREFIX, then renamed into place: PREFIX appears complete or not at all.
# Made with a plain mkdir, which fails on anything already there: `mkdir -p` would accept a link to a folder
# elsewhere that another user of a shared folder planted under this name, and the archive would unpack there.
staging=$prefix.condafarm-installing-$$
mkdir -p "${staging%/*}/"
mkdir "$staging" 2>/dev/null || fail "$staging is already there (left by another install, or planted); remove it"
trap 'rm -rf "$staging"' EXIT
trap 'exit 1' HUP INT TERM
tail -c +"$payload_offset" "$0" | gzip -dc | (cd "$staging" && tar -xf -) || fail "$0 is damaged: its archive did not unpack"

# copy FILE FROM TO: bytes FROM..TO-1 of FILE
copy() {
    tail -c +"$(($2 + 1))" "$1" | head -c "$(($3 - $2))"
}

# relocate MODE text|binary PATH START:END...: write PREFIX over each recorded occurrence of the old prefix.
# Binary strings keep their length: the rest of the string moves up and NULs fill the end, as conda does.
relocate() {
    mode=$1 kind=$2 file=$staging/$(printf '%b' "$3")
    shift 3
    if [ -L "$file" ] || [ ! -f "$file" ]; then
        fail "$file is not a regular file; the installer will not write through it"
    fi
    position=0
    {
        for span in "$@"; do
            start=${span%:*} end=${span#*:}
            copy "$file" "$position" "$start"
            printf '%s' "$prefix"
            if [ "$kind" = binary ]; then
                copy "$file" "$((start + old_length))" "$end"
                head -c "$((old_length - new_length))" /dev/zero
            fi
            position=$end
        done
        tail -c +"$((position + 1))" "$file"
    } >"$file.condafarm-relocating"
    mv -f "$file.condafarm-relocating" "$file"
    chmod "$mode" "$file"
}

@RELOCATE@
if [ -d "$prefix" ]; then rmdir "$prefix"; fi
mv "$staging" "$prefix"
printf 'installed the environment at %s\n' "$prefix"
exit 0
