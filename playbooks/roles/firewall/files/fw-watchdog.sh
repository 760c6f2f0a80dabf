# Run detached by the firewall role as: sh -c "$(cat fw-watchdog.sh)" fw-watchdog NFT TIMEOUT CONFIRM ROLLBACK
# Waits up to TIMEOUT seconds for the CONFIRM file (written by the controller over a NEW SSH connection
# through the new ruleset); without it, restores the previous dcinfra table from ROLLBACK.
nft=$1
timeout=$2
confirm=$3
rollback=$4
i=0
while [ "$i" -lt "$timeout" ]; do
    if [ -e "$confirm" ]; then
        rm -f "$confirm" "$rollback"
        exit 0
    fi
    sleep 1
    i=$((i + 1))
done
if "$nft" -f "$rollback"; then
    logger -t dcinfra-firewall "no confirmation within ${timeout}s: previous ruleset restored from $rollback" 2>/dev/null
    mv -f "$rollback" "$rollback.restored"
else
    logger -t dcinfra-firewall "no confirmation within ${timeout}s and restoring $rollback FAILED" 2>/dev/null
fi
