from m365_emulator.server import main

if __name__ == "__main__":
    main()
