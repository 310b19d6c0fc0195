@host @calico
Feature: Calico BGP node-to-node mesh and IPIP
  `calicoctl node status` lists the other N-1 peers Established (guide profile); in the offline
  profile calico's BGP layer is stood in by BIRD (`birdc show protocols`) with the same mesh,
  and tunl0-style IPIP tunnels carry protocol-4 traffic between the nodes.

  @check:calico.bgp-mesh
  Scenario: the BGP mesh is Established
    Then every node sees the other nodes as BGP peers in state Established

  @check:calico.tunl0-routes
  Scenario: pod blocks are routed through the tunnel
    Then every node routes the other nodes' pod blocks via the tunnel

  @check:calico.ipip-traffic
  Scenario: cross-node traffic over IPIP works
    Then protocol-4 traffic flows between every pair of nodes
