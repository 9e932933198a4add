#!/usr/bin/env bash
# Fetch Fish Fillets NG's dialogue scripts and one language's voices from Debian and unpack them
# (no install, no root needed for the unpacking): the input of `speechssl prepare fillets`.
#
#   bash tools/fetch_fillets.sh [LANGUAGE=cs] [DEST=data/corpora/fillets]
#
# Writes DEST/debs/*.deb (apt-get download: needs an apt source that carries the packages, e.g.
# Debian/Ubuntu main; run `apt-get update` once first) and unpacks them with dpkg -x into
# DEST/tree. Voiced languages: cs (fillets-ng-data-cs), nl (fillets-ng-data-nl); the scripts in
# fillets-ng-data hold every language's text. Packages already downloaded are not fetched again.
set -euo pipefail

language=${1:-cs}
dest=${2:-data/corpora/fillets}
packages=(fillets-ng-data "fillets-ng-data-$language")
mkdir -p "$dest/debs" "$dest/tree"
for package in "${packages[@]}"; do
  if ! compgen -G "$dest/debs/${package}_*.deb" > /dev/null; then
    (cd "$dest/debs" && apt-get download "$package")
  fi
  deb=$(ls "$dest/debs/${package}"_*.deb | tail -1)
  dpkg -x "$deb" "$dest/tree"
  echo "$package: $(basename "$deb") unpacked into $dest/tree"
done
echo "next: speechssl prepare fillets $dest/tree --language $language --output-dir data/fillets/$language"
