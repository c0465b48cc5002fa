from hivemesh.cli import main

raise SystemExit(main())
