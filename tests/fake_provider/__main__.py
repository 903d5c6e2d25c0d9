from tests.fake_provider.server import main

main()
