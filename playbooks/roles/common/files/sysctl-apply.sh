# Run by the common role as: sh -c "$(cat sysctl-apply.sh)" sysctl-apply MODE PREFIXES KEY=VALUE...
#   MODE      check (read only) or apply (write the keys that differ and that this kernel lets us write)
#   PREFIXES  comma-separated key prefixes to apply ("net." on lab nodes); empty means every key
# Prints one JSON object: changed / would_change / in_sync (key lists), refused (keys the kernel does not
# take here, with the reason) and out_of_scope (keys that differ but are outside PREFIXES).
set -eu
mode=$1
prefixes=$2
shift 2

esc() { printf '%s' "$1" | sed 's/[\\"]/\\&/g'; }
add() { # add LISTVAR ITEM: append a JSON string to the list held in LISTVAR
    eval "cur=\${$1}"
    item="\"$(esc "$2")\""
    if [ -n "$cur" ]; then item="$cur, $item"; fi
    eval "$1=\$item"
}

changed='' would_change='' in_sync='' refused='' out_of_scope=''
for kv in "$@"; do
    key=${kv%%=*}
    want=$(printf '%s' "${kv#*=}" | tr -s '[:blank:]' ' ')
    path=/proc/sys/$(printf '%s' "$key" | tr . /)
    have=''
    if [ -e "$path" ]; then have=$(tr -s '[:blank:]' ' ' <"$path"); fi
    if [ -e "$path" ] && [ "$have" = "$want" ]; then
        add in_sync "$key"
        continue
    fi
    scoped=no
    if [ -z "$prefixes" ]; then scoped=yes; fi
    for p in $(printf '%s' "$prefixes" | tr ',' ' '); do
        case $key in "$p"*) scoped=yes ;; esac
    done
    if [ "$scoped" = no ]; then
        add out_of_scope "$key (live $have, wanted $want)"
    elif [ ! -e "$path" ]; then
        add refused "$key: not present in this kernel or network namespace"
    elif [ ! -w "$path" ]; then
        add refused "$key: read-only here (live $have, wanted $want)"
    elif [ "$mode" = check ]; then
        add would_change "$key: $have -> $want"
    elif ! err=$(printf '%s\n' "$want" 2>&1 >"$path"); then
        add refused "$key: the kernel refused $want: $err"
    else
        now=$(tr -s '[:blank:]' ' ' <"$path")
        if [ "$now" = "$want" ]; then
            add changed "$key: $have -> $want"
        else
            add refused "$key: the kernel set $now when asked for $want"
        fi
    fi
done
printf '{"changed": [%s], "would_change": [%s], "in_sync": [%s], "refused": [%s], "out_of_scope": [%s]}\n' \
    "$changed" "$would_change" "$in_sync" "$refused" "$out_of_scope"
