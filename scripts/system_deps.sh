#!/usr/bin/env bash
# Optional system tools: LaTeX + latexmk (papers as PDF), poppler-utils (PDF checks in tests), bubblewrap, and
# chromium (the headless browser that tests HTML pages). Installed with apt when running as root; otherwise say what
# to install. Nothing here is required for a run: without LaTeX, papers are Markdown + HTML (+ the .tex).
set -euo pipefail
packages=()
command -v pdflatex >/dev/null || packages+=(texlive-latex-base texlive-latex-recommended lmodern)
command -v latexmk >/dev/null || packages+=(latexmk)  # runs BibTeX and the LaTeX passes for papers
command -v pdftoppm >/dev/null || packages+=(poppler-utils)  # pdftoppm/pdftotext: tests look at page 1
command -v bwrap >/dev/null || packages+=(bubblewrap)
command -v chromium >/dev/null || packages+=(chromium)
# Callers add what they need in the same apt transaction (scripts/system_tools.sh: the Docker engine, PostgreSQL).
declare -A provides=([docker.io]=dockerd [mmdebstrap]=mmdebstrap [postgresql]=pg_lsclusters)
for extra in ${SCIENTIST_APT_EXTRA:-}; do
  command -v "${provides[$extra]:-$extra}" >/dev/null || packages+=("$extra")
done
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "==> apt-get install ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${packages[@]}" >/tmp/scientist-apt.log 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/tmp/scientist-apt.log 2>&1 \
      || echo "warning: could not install ${packages[*]} (see /tmp/scientist-apt.log); continuing without them"
  fi
else
  echo "note: optional tools missing: ${packages[*]} (install them with your package manager for PDF papers)"
fi
