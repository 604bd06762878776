namespace Diffusion.Cli.Tests;

/// <summary>Every CLI test class shares one packed-and-installed tool.</summary>
[CollectionDefinition(Name)]
public sealed class ToolCollection : ICollectionFixture<InstalledTool>
{
    public const string Name = "installed tool";
}
