#!/usr/bin/env python3
"""Differential check of berthd's Engine API against a real dockerd, both on unix sockets.

Runs the same requests against both daemons and prints where the JSON *shapes* differ: keys one
side lacks, and type differences (null vs [] vs {} vs string vs number vs bool). Values are not
compared (ids, times differ), except status codes and error messages.

    python3 scripts/api-diff.py /run/berth/berth.sock /tmp/dd/d.sock

Both daemons need an image named `busybox` with /bin/busybox (e.g. `docker import`).
"""
import http.client
import json
import re
import socket
import sys


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s


def call(sock, method, path, body=None):
    c = UnixConn(sock)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data.decode(errors="replace")


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


# Keys whose contents are data (maps keyed by ids, env names...), not schema.
OPAQUE = {"Labels", "Options", "Ports", "Networks", "ExposedPorts", "Volumes", "Containers",
          "Annotations", "DriverOpts", "Data", "Status", "Plugins", "Runtimes", "RegistryConfig",
          "IndexConfigs", "Tmpfs", "LogConfig", "Sysctls", "StorageOpt", "Config"}


def diff(a, b, path, out):
    ka, kb = kind(a), kind(b)
    if ka != kb:
        out.append(f"{path}: berth {ka} ({json.dumps(a)[:60]}), docker {kb} ({json.dumps(b)[:60]})")
        return
    if ka == "object":
        last = path.rsplit(".", 1)[-1]
        if last in OPAQUE and path.count(".") > 1:
            return
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: missing in berth (docker: {json.dumps(b[k])[:60]})")
            elif k not in b:
                out.append(f"{path}.{k}: extra in berth ({json.dumps(a[k])[:60]})")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif ka == "list" and a and b:
        diff(a[0], b[0], path + "[0]", out)


def main():
    berth, docker = sys.argv[1], sys.argv[2]
    both = (berth, docker)
    report = []

    def compare(name, method, path, body=None, paths=None):
        (sa, ja), (sb, jb) = [call(s, method, (paths or {}).get(s, path), body) for s in both]
        out = []
        if sa != sb:
            out.append(f"status: berth {sa}, docker {sb}")
        norm = lambda m: re.sub(r"[0-9a-f]{64}", "<id>", str(m))
        if isinstance(ja, dict) and isinstance(jb, dict) and "message" in jb and norm(ja.get("message")) != norm(jb["message"]):
            out.append(f"message: berth {ja.get('message')!r}, docker {jb['message']!r}")
        diff(ja, jb, "$", out)
        report.append((name, out))
        return ja, jb

    compare("version", "GET", "/version")
    compare("info", "GET", "/info")
    compare("images", "GET", "/images/json")
    compare("image inspect", "GET", "/images/busybox/json")
    compare("image history", "GET", "/images/busybox/history")
    create = {"Image": "busybox", "Cmd": ["sleep", "100"], "Labels": {"a": "b"}, "Env": ["X=1"],
              "HostConfig": {"NetworkMode": "none"}}
    ids = {}
    for s in both:
        call(s, "DELETE", "/containers/apidiff?force=1")
        st, j = call(s, "POST", "/containers/create?name=apidiff", create)
        ids[s] = j.get("Id") if isinstance(j, dict) else None
    compare("container inspect (created)", "GET", "/containers/apidiff/json")
    compare("ps -a", "GET", "/containers/json?all=1")
    for s in both:
        call(s, "POST", "/containers/apidiff/start")
    compare("container inspect (running)", "GET", "/containers/apidiff/json")
    compare("ps", "GET", "/containers/json")
    compare("top", "GET", "/containers/apidiff/top")
    compare("stats one-shot", "GET", "/containers/apidiff/stats?stream=0")
    ex = {}
    for s in both:
        st, j = call(s, "POST", "/containers/apidiff/exec", {"Cmd": ["true"], "AttachStdout": True})
        ex[s] = j.get("Id") if isinstance(j, dict) else ""
    compare("exec inspect", "GET", "", paths={s: f"/exec/{ex[s]}/json" for s in both})
    compare("changes", "GET", "/containers/apidiff/changes")
    compare("start again (304)", "POST", "/containers/apidiff/start")
    compare("rm running", "DELETE", "/containers/apidiff")
    for s in both:
        call(s, "POST", "/containers/apidiff/stop?t=1")
    compare("container inspect (exited)", "GET", "/containers/apidiff/json")
    compare("wait exited", "POST", "/containers/apidiff/wait")
    compare("system df", "GET", "/system/df")
    compare("networks", "GET", "/networks")
    compare("network bridge", "GET", "/networks/bridge")
    compare("network none", "GET", "/networks/none")
    compare("volumes", "GET", "/volumes")
    compare("no such container", "GET", "/containers/nope/json")
    compare("no such image", "GET", "/images/nope/json")
    compare("no such image create", "POST", "/containers/create", {"Image": "nope"})
    compare("bad name", "POST", "/containers/create?name=a/b", {"Image": "busybox"})
    compare("no such exec", "GET", "/exec/nope/json")
    compare("no such network", "GET", "/networks/nope")
    compare("no such volume", "GET", "/volumes/nope")
    compare("kill stopped", "POST", "/containers/apidiff/kill")
    compare("pause stopped", "POST", "/containers/apidiff/pause")
    compare("container prune filters bad", "POST", "/containers/prune?filters=" + "%7B%22x%22%3A%5B%22y%22%5D%7D")
    compare("ps size", "GET", "/containers/json?all=1&size=1")
    compare("ps filter exited", "GET", "/containers/json?all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D")
    compare("ps filter bad status", "GET", "/containers/json?all=1&filters=%7B%22status%22%3A%5B%22bogus%22%5D%7D")
    compare("inspect size", "GET", "/containers/apidiff/json?size=1")
    compare("rename to bad", "POST", "/containers/apidiff/rename?name=a%2Fb")
    compare("update memory", "POST", "/containers/apidiff/update", {"Memory": 64 * 1024 * 1024, "MemorySwap": -1})
    compare("restart policy bad", "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "bogus"}}})
    compare("create empty", "POST", "/containers/create", {})
    compare("create no cmd", "POST", "/containers/create", {"Image": "busybox", "Entrypoint": [], "Cmd": []})
    full = {"Image": "busybox", "Cmd": ["true"], "Hostname": "h1", "User": "0", "WorkingDir": "/tmp",
            "Tty": True, "OpenStdin": True, "StopSignal": "SIGINT", "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "HostConfig": {"NetworkMode": "none", "Memory": 33554432, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
                           "CapAdd": ["NET_ADMIN"], "Privileged": False, "ReadonlyRootfs": True, "Tmpfs": {"/run": "size=1m"},
                           "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}], "ExtraHosts": ["a:1.2.3.4"], "Init": True}}
    for s in both:
        call(s, "DELETE", "/containers/apidiff2?force=1")
        call(s, "POST", "/containers/create?name=apidiff2", full)
    compare("inspect full options", "GET", "/containers/apidiff2/json")
    for s in both:
        call(s, "DELETE", "/containers/apidiff2?force=1")
    compare("delete missing", "DELETE", "/containers/nope")
    compare("start missing", "POST", "/containers/nope/start")
    compare("image tag bad", "POST", "/images/busybox/tag?repo=UPPER&tag=x")
    compare("image delete missing", "DELETE", "/images/nope")
    compare("images filter dangling", "GET", "/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D")
    compare("image prune", "POST", "/images/prune")
    compare("container prune", "POST", "/containers/prune")
    compare("volume prune", "POST", "/volumes/prune")
    compare("network prune", "POST", "/networks/prune")
    # Networking: a bridge container with published ports, a user network with an alias.
    for s in both:
        call(s, "DELETE", "/containers/apinet?force=1")
        call(s, "DELETE", "/containers/apinet2?force=1")
        call(s, "DELETE", "/networks/apidiffnet")
        call(s, "POST", "/networks/create", {"Name": "apidiffnet", "Labels": {"x": "y"},
                                             "IPAM": {"Config": [{"Subnet": "10.99.%d.0/24" % (1 if s == berth else 2)}]}})
        call(s, "POST", "/containers/create?name=apinet",
             {"Image": "busybox", "Cmd": ["sleep", "100"], "ExposedPorts": {"80/tcp": {}},
              "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]}}})
        call(s, "POST", "/containers/create?name=apinet2",
             {"Image": "busybox", "Cmd": ["sleep", "100"], "HostConfig": {"NetworkMode": "apidiffnet"},
              "NetworkingConfig": {"EndpointsConfig": {"apidiffnet": {"Aliases": ["al"]}}}})
    compare("bridge container created", "GET", "/containers/apinet/json")
    compare("user-net container created", "GET", "/containers/apinet2/json")
    for s in both:
        call(s, "POST", "/containers/apinet/start")
        call(s, "POST", "/containers/apinet2/start")
    compare("bridge container running", "GET", "/containers/apinet/json")
    compare("user-net container running", "GET", "/containers/apinet2/json")
    compare("ps with ports", "GET", "/containers/json")
    compare("network inspect user", "GET", "/networks/apidiffnet")
    compare("network rm in use", "DELETE", "/networks/apidiffnet")
    compare("disconnect not connected", "POST", "/networks/bridge/disconnect", {"Container": "apinet2"})
    compare("connect", "POST", "/networks/bridge/connect", {"Container": "apinet2"})
    compare("user-net container two nets", "GET", "/containers/apinet2/json")
    for s in both:
        call(s, "POST", "/containers/apinet/stop?t=0")
    compare("bridge container stopped", "GET", "/containers/apinet/json")
    compare("volume create", "POST", "/volumes/create", {"Name": "apidiffvol", "Labels": {"a": "b"}})
    compare("volume inspect", "GET", "/volumes/apidiffvol")
    compare("volume list", "GET", "/volumes")
    for s in both:
        call(s, "DELETE", "/containers/apinet?force=1")
        call(s, "DELETE", "/containers/apinet2?force=1")
        call(s, "DELETE", "/networks/apidiffnet")
        call(s, "DELETE", "/volumes/apidiffvol")
    compare("info again", "GET", "/info")
    for s in both:
        call(s, "DELETE", "/containers/apidiff?force=1")

    bad = 0
    for name, out in report:
        if out:
            bad += 1
            print(f"== {name}")
            for line in out:
                print("   " + line)
    print(f"{bad} of {len(report)} requests differ")


if __name__ == "__main__":
    main()
