using Diffusion.Testing;
using Microsoft.Playwright;

namespace Diffusion.Server.Tests;

/// <summary>
/// The web page in a real headless Chromium (Debian's <c>chromium</c> package, driven by Playwright for .NET; nothing is
/// downloaded). Under <c>CI=true</c> a missing browser fails the test; elsewhere it is skipped.
/// </summary>
public sealed class WebUiTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_generation_started_from_the_page_finishes_and_shows_its_image()
    {
        if (!File.Exists(Chromium))
        {
            string message = $"{Chromium} not found: install Debian's chromium package (.ci/run does).";
            if (SharedData.IsCi)
                Assert.Fail(message + " It must exist when CI=true.");
            Assert.Skip(message);
        }
        await using TestServer server = await TestServer.StartAsync(o => o.ApiKeys.Add("page-key"));
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox"],
        });
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 700 } });
        await page.GotoAsync(server.Address.ToString());

        await page.Locator("#apikey").FillAsync("page-key");
        await page.Locator("#prompt").FillAsync("a small green square, top left");
        await page.Locator("#steps").FillAsync("6");
        await page.Locator("#seed").FillAsync("7");
        // Keyboard-friendly: Ctrl+Enter generates.
        await page.Locator("#prompt").PressAsync("Control+Enter");

        ILocator result = page.Locator("#gallery img.result").First;
        await result.WaitForAsync(new LocatorWaitForOptions { Timeout = 60_000 });
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('#gallery img.result'); return i && i.complete && i.naturalWidth > 0; }");
        Assert.Equal(64, await result.EvaluateAsync<int>("i => i.naturalWidth"));
        Assert.Contains("Seed: 7", await result.GetAttributeAsync("title"), StringComparison.Ordinal);
        Assert.StartsWith("Done (seed 7)", await page.Locator("#status").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal("1", await page.Locator("#progress").EvaluateAsync<string>("p => String(p.value)"));

        if (Environment.GetEnvironmentVariable("DIFFUSION_SCREENSHOT") is { Length: > 0 } screenshot)
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot });
    }
}
