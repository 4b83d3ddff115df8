#!/bin/sh
# Enable the kiosk's user service for every user: it starts with their graphical session.
set -e
if command -v systemctl >/dev/null 2>&1; then
    systemctl --global enable carekiosk.service >/dev/null 2>&1 || true
fi
exit 0
