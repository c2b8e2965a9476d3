#!/usr/bin/env bash
# Print the first TCP port in [BASE, BASE+COUNT) on 127.0.0.1 that nothing
# listens on (never 2181). Usage: free-port.sh BASE [COUNT]
base="${1:?base port}"; count="${2:-100}"
listening="$(ss -Hltn 2>/dev/null | awk '{print $4}')"
for ((p = base; p < base + count; p++)); do
  ((p == 2181)) && continue
  grep -qE "[:.]$p\$" <<<"$listening" && continue
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null && continue
  echo "$p"; exit 0
done
echo "no free port in $base..$((base + count - 1))" >&2
exit 1
