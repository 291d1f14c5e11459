"""The private model host's side of the Skupper link (issue 5).

`python -m private_host bundle` turns this stack's outputs (`pulumi stack output --json
--show-secrets`) into a folder for the machine that runs the private model server: a Skupper 2.x
*system* site (Podman by default, or Docker / Linux) with a Connector that matches the cluster's
Listener and the static Link the cluster exported, plus `install.sh` and `README.txt`.
"""
