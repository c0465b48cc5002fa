"""Load testing: ``hivemesh simulate`` (``command``).

Real peers (``harness``): py-libp2p on loopback, the real worker and gateway
code, simulated models; in this process (``inproc``) or one OS process per
peer (``procs``, ``peerproc``). ``schedule`` fixes jobs and faults from the
seed, ``driver`` submits and strikes them, ``tracker`` records what clients
saw, ``sampler`` measures, ``report``/``table``/``plots`` tell it.

Model only (``model_only``): a discrete-event model of advert gossip for
meshes one machine cannot host.
"""
