using Diffusion.Core.Schedulers;

namespace Diffusion.Core.Tests.Schedulers;

/// <summary>scheduler_config.json inputs AFL++ found (fuzz/corpus/scheduler-config/regression-*): each is now a typed error.</summary>
public sealed class SchedulerFuzzRegressionTests
{
    public static TheoryData<string> Regressions() => new(FuzzCorpus.Regressions("scheduler-config"));

    [Theory]
    [MemberData(nameof(Regressions))]
    public void A_config_the_fuzzer_found_is_an_InvalidOptionException(string file)
    {
        // num_train_timesteps 1 with Karras sigmas used to index before a one-entry sigma table (IndexOutOfRangeException).
        Assert.Throws<InvalidOptionException>(() =>
        {
            SchedulerConfig config = SchedulerConfig.FromJson(File.ReadAllText(file), "scheduler_config.json");
            IScheduler scheduler = SchedulerCatalog.CreateFromConfig(config);
            scheduler.SetTimesteps(Math.Min(10, config.NumTrainTimesteps));
        });
    }
}
