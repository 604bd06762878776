namespace Diffusion.Imaging.Skia.Tests;

public sealed class PlaceholderTests
{
    [Fact]
    public void Builds() => Assert.True(true);
}
