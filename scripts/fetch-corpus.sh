#!/usr/bin/env bash
# Assembles the default model's training corpus into DIR (not committed): the King James Version of
# the Bible (1611; public domain), from Debian's bible-kjv-text package, read out with its `bible`
# program (package bible-kjv, a dependency). Installs the packages when missing.
#
# Layout: DIR/NN-Book.txt, one file per book (66). Each chapter is one paragraph, i.e. one document
# for `fathom prepare`: a heading line ("Genesis 1") followed by its verses, one per line, without
# verse numbers; chapters are separated by a blank line. About 4.3 MB of text.
#
#   scripts/fetch-corpus.sh DIR
set -euo pipefail
out=${1:?usage: fetch-corpus.sh DIR}

if ! command -v bible > /dev/null || [ ! -f /usr/lib/bible.data ]; then
  echo "[corpus] installing bible-kjv-text"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq bible-kjv-text bible-kjv > /dev/null
fi

mkdir -p "$out"
rm -f "$out"/[0-9][0-9]-*.txt
# `bible -l N` pretty-prints: "Book C" heading lines, blank lines, and "  V text" verse lines.
bible -l 1000000 Gen1:1-Rev22:21 | awk -v out="$out" '
  /^$/ { next }
  /^  *[0-9]+ / { sub(/^ *[0-9]+ /, ""); print > file; next }
  {
    book = $0; sub(/ [0-9]+$/, "", book)
    if (book != cur) {
      if (file != "") close(file)
      cur = book; n++
      name = book; gsub(/ /, "_", name)
      file = sprintf("%s/%02d-%s.txt", out, n, name)
      first = 1
    }
    if (!first) print "" > file
    first = 0
    print $0 > file
  }'
n=$(ls "$out"/[0-9][0-9]-*.txt | wc -l)
bytes=$(cat "$out"/[0-9][0-9]-*.txt | wc -c)
echo "[corpus] $n books, $bytes bytes in $out"
[ "$n" -eq 66 ] || { echo "[corpus] expected 66 books" >&2; exit 1; }
