# Run by the ceph role on the first monitor, once, before any monitor exists:
#   sh -c "$(cat mon-seed.sh)" mon-seed FSID RELEASE SEED_DIR NAME=IP...
# (RELEASE: the major number of the Ceph release, 16 for pacific, the monmap's min_mon_release)
# Creates SEED_DIR (ceph:ceph 0700) with the keys a new cluster starts from (mon., client.admin,
# client.bootstrap-osd: generated here by ceph-authtool, never on a command line) and the initial
# monmap with every planned monitor. The monmap is written last: its presence means the seed is
# complete, so an interrupted run starts the seed again instead of using half of it.
# Prints "exists" or "created".
set -eu
fsid=$1
release=$2
dir=$3
shift 3
if [ -s "$dir/monmap" ] && [ -s "$dir/mon.keyring" ]; then
    echo exists
    exit 0
fi
umask 077
mkdir -p "$dir"
rm -f "$dir"/*.tmp
ceph-authtool --create-keyring "$dir/mon.keyring.tmp" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/admin.keyring.tmp" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/bootstrap-osd.keyring.tmp" --gen-key -n client.bootstrap-osd \
    --cap mon 'profile bootstrap-osd' --cap mgr 'allow r' >/dev/null
ceph-authtool "$dir/mon.keyring.tmp" --import-keyring "$dir/admin.keyring.tmp" >/dev/null
ceph-authtool "$dir/mon.keyring.tmp" --import-keyring "$dir/bootstrap-osd.keyring.tmp" >/dev/null
addv=""
for m in "$@"; do
    ip=${m#*=}
    addv="$addv --addv ${m%%=*} [v2:$ip:3300,v1:$ip:6789]"
done
# shellcheck disable=SC2086 # one word per name and address vector
monmaptool --create --fsid "$fsid" --set-min-mon-release "$release" $addv "$dir/monmap.tmp" >/dev/null
mv "$dir/admin.keyring.tmp" "$dir/admin.keyring"
mv "$dir/bootstrap-osd.keyring.tmp" "$dir/bootstrap-osd.keyring"
mv "$dir/mon.keyring.tmp" "$dir/mon.keyring"
chown -R ceph:ceph "$dir"
mv "$dir/monmap.tmp" "$dir/monmap"
echo created
