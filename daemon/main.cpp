// vaultwatchd: parses the command line and runs the App's stages (app.h).
#include "app.h"
#include "config.h"
#include "rpc_methods.h"

#include <iostream>
#include <string_view>

using namespace vw::daemon;

int main(int argc, char** argv)
{
    if (argc == 2 && std::string_view{argv[1]} == "--rpc-docs") {
        // docs/rpc.md is generated from the method table: vaultwatchd --rpc-docs > docs/rpc.md
        std::cout << MakeRpcTable({})->Markdown();
        return 0;
    }
    auto parsed = ParseConfig(argc, argv);
    if (!parsed) {
        std::cerr << "vaultwatchd: " << parsed.error() << "\n";
        return 1;
    }
    if (!parsed->has_value()) return 0;

    App app{[argc, argv] { return ParseConfig(argc, argv); }};
    if (auto r = app.Init(**parsed); !r) {
        if (!r.error().logged) std::cerr << "vaultwatchd: " << r.error().message << "\n";
        return 1;
    }
    app.Start();
    app.Run();
    return app.Stop();
}
