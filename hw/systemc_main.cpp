// libsystemc.so defines main() and calls sc_main() from it, so every binary that links SystemC
// needs an sc_main symbol even though coda's binaries have their own main() (gtest_main, the coda
// command) and never enter SystemC's. This is that symbol, defined once for the whole project;
// hw/CMakeLists.txt makes every binary linking coda_hw pull it in (-u sc_main).
extern "C" int sc_main(int /*argc*/, char* /*argv*/[]) { return 0; }  // SystemC declares it extern "C"
