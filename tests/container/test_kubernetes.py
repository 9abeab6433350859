"""deploy/kubernetes/ under `podman kube play` (issue #15 part 5).

No cluster here, and podman 4.3 (Debian 12) plays only part of the pod
spec, so the test plays a REDUCED pod made from deployment.yaml by
`reduce()` below; each change is what podman lacks, not a change of intent:
- the native sidecar (an init container with restartPolicy: Always) becomes
  the first regular container: podman refuses init containers with probes
  and would wait for an init container to exit;
- securityContext.seccompProfile (Localhost) becomes the legacy annotation
  container.seccomp.security.alpha.kubernetes.io/ringside, the only form
  podman 4.3 reads (profiles from --seccomp-profile-root = deploy/seccomp);
- fsGroup is also given as supplementalGroups (podman ignores fsGroup; the
  volume's group comes from the image's /run/ringside instead);
- the Secret becomes a podman secret (a JSON map of base64 values: what
  podman's secretKeyRef reads), the ConfigMap is passed with --configmap;
- names (the Deployment, volumes, ConfigMap, Secret) get a per-run suffix,
  images are the test image.
What podman does not do at all, so is NOT exercised: startup ordering and
restarts of the native sidecar, the kubelet running the probes (podman turns
them into systemd-timer healthchecks, and there is no systemd here: the test
runs the probe command itself), terminationGracePeriodSeconds (podman stops
with its own timeout), emptyDir medium: Memory (a podman volume on disk),
resource requests (limits are applied) and schema validation by an API
server.
"""
import base64
import json
import os
import subprocess
import time

import yaml

from conftest import PODMAN, ROOT, podman

KDIR = os.path.join(ROOT, "deploy", "kubernetes")


def load(name):
    with open(os.path.join(KDIR, name)) as f:
        return yaml.safe_load(f)


def reduce(deployment, image, suffix):
    d = json.loads(json.dumps(deployment))
    d["metadata"]["name"] += suffix
    t = d["spec"]["template"]
    spec = t["spec"]
    side = [c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    for c in side:
        del c["restartPolicy"]
    spec["initContainers"] = [c for c in spec.get("initContainers", []) if c not in side]
    if not spec["initContainers"]:
        del spec["initContainers"]
    spec["containers"] = side + spec["containers"]
    ann = t["metadata"].setdefault("annotations", {})
    for c in spec["containers"]:
        c["image"] = image
        prof = c.get("securityContext", {}).get("seccompProfile")
        if prof and prof["type"] == "Localhost":
            ann[f"container.seccomp.security.alpha.kubernetes.io/{c['name']}"] = \
                "localhost/" + prof["localhostProfile"]
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                ref["name"] += suffix
        for m in c.get("volumeMounts", []):
            m["name"] += suffix
    for v in spec["volumes"]:
        v["name"] += suffix
        if "configMap" in v:
            v["configMap"]["name"] += suffix   # podman names its volume after the ConfigMap
    sc = spec["securityContext"]
    sc["supplementalGroups"] = [sc["fsGroup"]]
    return d


def test_kube_play_of_the_reduced_pod(image, tmp_path):
    suffix = f"-t{os.getpid()}"
    dep = load("deployment.yaml")
    pod = reduce(dep, image, suffix)
    play = tmp_path / "pod.yaml"
    play.write_text(yaml.safe_dump(pod, sort_keys=False))
    # kube play takes no --ulimit: the same lowered limits (and runc) through
    # a containers.conf for these calls only
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    'log_driver = "k8s-file"\n[engine]\nruntime = "runc"\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    cm = load("configmap.yaml")
    cm["metadata"]["name"] += suffix
    cm_file = tmp_path / "configmap.yaml"
    cm_file.write_text(yaml.safe_dump(cm, sort_keys=False))
    secret_doc = load("secret.example.yaml")
    secret = secret_doc["metadata"]["name"] + suffix
    data = {k: base64.b64encode(v.encode()).decode() for k, v in secret_doc["stringData"].items()}
    podman("secret", "create", secret, "-", input=json.dumps(data))
    pod_name = pod["metadata"]["name"] + "-pod-0"
    side, app = pod_name + "-ringside", pod_name + "-app"
    try:
        t = time.monotonic()
        r = subprocess.run(PODMAN + ["kube", "play", "--seccomp-profile-root",
                                     os.path.join(ROOT, "deploy", "seccomp"),
                                     "--configmap", str(cm_file), str(play)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        # the app's smoke client: an echo round trip through the sidecar
        # (podman starts both at once, so its first try may find no socket
        # yet; the pod's restart policy runs it again)
        deadline = time.monotonic() + 60
        while "hello-from-app" not in podman("logs", app, check=False).stdout:
            assert time.monotonic() < deadline, \
                podman("logs", app, check=False).stderr + podman("logs", side, check=False).stderr
            time.sleep(0.2)
        print(f"kube play: the app's first round trip {time.monotonic() - t:.1f} s after play")
        logs = podman("logs", side).stderr
        assert "config /etc/ringside/ringside.yaml" in logs, logs
        assert "API key from $DEEPSEEK_API_KEY" in logs, logs
        assert "uid 20000" in logs, logs
        # the probe, exactly as the manifest runs it
        probe = dep["spec"]["template"]["spec"]["initContainers"][0]["livenessProbe"]["exec"]["command"]
        r = podman("exec", side, *probe)
        assert r.stdout.strip() == "ok"
        # the Localhost profile reached the sidecar: it holds an io_uring
        pid = podman("inspect", "--format", "{{.State.Pid}}", side).stdout.strip()
        fds = [os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd")]
        assert "anon_inode:[io_uring]" in fds
        # the key is in the sidecar's container only; hardening applied
        insp = {c: json.loads(podman("inspect", c).stdout)[0] for c in (side, app)}
        assert any(e.startswith("DEEPSEEK_API_KEY=") for e in insp[side]["Config"]["Env"])
        assert not any(e.startswith("DEEPSEEK_API_KEY=") for e in insp[app]["Config"]["Env"])
        for c in (side, app):
            assert insp[c]["HostConfig"]["ReadonlyRootfs"] is True
            assert "no-new-privileges" in insp[c]["HostConfig"]["SecurityOpt"]
        assert insp[side]["Config"]["User"] == "10001:10001"
        assert insp[app]["Config"]["User"] == "20000:20000"
        assert insp[side]["HostConfig"]["Memory"] == 160 * 2**20
    finally:
        subprocess.run(PODMAN + ["kube", "down", str(play)], capture_output=True, env=env)
        for v in pod["spec"]["template"]["spec"]["volumes"]:
            for name in {v["name"], v.get("configMap", {}).get("name")} - {None}:
                subprocess.run(PODMAN + ["volume", "rm", "-f", name], capture_output=True)
        subprocess.run(PODMAN + ["secret", "rm", secret], capture_output=True)
