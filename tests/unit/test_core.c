#include "../runner.h"
TEST(placeholder) { CHECK(1); }
