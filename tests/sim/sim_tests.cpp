#include "regtest_sim.h"
#include <gtest/gtest.h>
TEST(Sim, Starts) { vw::sim::SimConfig c; c.rpc_user="u"; c.rpc_password="p"; vw::sim::RegtestSim s(c); s.Start(); EXPECT_EQ(s.Height(), 0); }
