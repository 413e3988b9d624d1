# Sourced by util/build-asan and util/fuzz-nginx: a private APT state for
# "apt-get source", made of deb-src copies of this machine's APT sources,
# so that nothing under /etc/apt or /var/lib/apt changes.
#
# deb_src_apt DIR sets up DIR (emptied first), fills the array
# DEB_SRC_APT_OPTIONS with the apt-get and apt-cache options that use it,
# and downloads its source index.  Returns non-zero when that download
# fails; the caller names what to do instead.

deb_src_apt() {
    local apt=$1 file

    rm -rf "$apt"
    mkdir -p "$apt/sources.list.d" "$apt/lists/partial" \
             "$apt/cache/archives/partial"

    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$file"
    done >"$apt/sources.list"

    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        sed 's/^Types:.*/Types: deb-src/' "$file" \
            >"$apt/sources.list.d/$(basename "$file")"
    done

    DEB_SRC_APT_OPTIONS=(
        -o "Dir::Etc::SourceList=$apt/sources.list"
        -o "Dir::Etc::SourceParts=$apt/sources.list.d"
        -o "Dir::State::Lists=$apt/lists"
        -o "Dir::Cache=$apt/cache"
        -o "APT::Sandbox::User=$(id -un)"
    )

    apt-get -qq "${DEB_SRC_APT_OPTIONS[@]}" update
}
