#!/usr/bin/env bash
# Installs the agent bundle as a systemd service on an edge node.
#   sudo deploy/install-agent.sh [path/to/ocdn-agent.cjs]
# Then put OCDN_MANAGER_URL and OCDN_NODE_TOKEN in /etc/ocdn/agent.env and: systemctl start ocdn-agent
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bundle="${1:-$here/../apps/agent/dist/ocdn-agent.cjs}"
[ "$(id -u)" -eq 0 ] || { echo "install-agent: run as root" >&2; exit 1; }
[ -f "$bundle" ] || { echo "install-agent: no bundle at $bundle (run 'npm run build' first)" >&2; exit 1; }
command -v node >/dev/null || { echo "install-agent: node (>= 20) is required" >&2; exit 1; }
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "install-agent: node >= 20 is required, found $(node --version)" >&2; exit 1; }

getent group ocdn >/dev/null || groupadd --system ocdn
getent passwd ocdn >/dev/null || useradd --system --gid ocdn --home-dir /var/lib/ocdn --shell /usr/sbin/nologin ocdn

install -d -m 0755 /opt/ocdn
install -m 0644 "$bundle" /opt/ocdn/ocdn-agent.cjs
install -d -m 0750 -o root -g ocdn /etc/ocdn
[ -f /etc/ocdn/agent.env ] || install -m 0640 -o root -g ocdn "$here/agent.env.example" /etc/ocdn/agent.env
# Directories the agent writes (its roles'); created now so ReadWritePaths applies.
install -d -m 0755 -o ocdn -g ocdn /var/lib/ocdn /var/lib/ocdn/files /var/cache/ocdn /var/cache/ocdn/nginx
[ -d /etc/nginx ] && install -d -m 0755 -o ocdn -g ocdn /etc/nginx/conf.d/ocdn
[ -d /etc/bind ] && install -d -m 0755 -o ocdn -g ocdn /etc/bind/ocdn

# rndc and unbound-control read keys that their groups may read.
dropin=/etc/systemd/system/ocdn-agent.service.d
install -d -m 0755 "$dropin"
groups=()
for g in bind unbound; do getent group "$g" >/dev/null && groups+=("$g"); done
if [ ${#groups[@]} -gt 0 ]; then
  printf '[Service]\nSupplementaryGroups=%s\n' "${groups[*]}" > "$dropin/groups.conf"
else
  rm -f "$dropin/groups.conf"
fi

install -m 0644 "$here/ocdn-agent.service" /etc/systemd/system/ocdn-agent.service
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable ocdn-agent.service
  echo "install-agent: installed. Edit /etc/ocdn/agent.env, then: systemctl start ocdn-agent"
else
  echo "install-agent: installed (systemd not running here; enable ocdn-agent.service yourself)"
fi
