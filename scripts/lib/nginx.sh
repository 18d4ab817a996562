# Sourced by scripts/lib/services.sh (for scripts/e2e, whose proxy it is) and by
# scripts/check-deploy (which runs `nginx -t` on the README's plain-nginx configuration):
# Debian's nginx, installed once. Debian's postinst may start the packaged site on port 80;
# neither uses it.
ensure_nginx() {
  if command -v nginx >/dev/null; then return; fi
  if ! command -v apt-get >/dev/null; then
    printf 'scripts/%s: nginx is needed and there is no apt-get here to install it\n' "$(basename "$0")" >&2
    return 1
  fi
  printf '==> installing nginx (once)\n'
  local install=(apt-get install -y --no-install-recommends nginx)
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null; } || {
    printf 'scripts/%s: could not install nginx\n' "$(basename "$0")" >&2
    return 1
  }
}
